package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/mosaic-platform/mosaic/client"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

func ExampleClient_OpenAPI() {
	ctx := context.Background()
	env, err := mosaictest.Start(ctx) // a platform served over HTTP
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	// The reference needs no key.
	raw, err := client.New(env.BaseURL, "").OpenAPI(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		log.Fatal(err)
	}
	_, sql := doc.Paths["/{slug}/sql"]["post"]
	fmt.Println(doc.OpenAPI, sql)
	// Output:
	// 3.1.0 true
}
