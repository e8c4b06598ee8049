package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/mosaic-platform/mosaic/httpapi"
	"github.com/mosaic-platform/mosaic/mosaictest"
)

// Mount the platform's API under /platform/ on an application's own mux,
// next to the application's routes.
func ExampleHandler() {
	env, err := mosaictest.Start(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "app route") })
	api := httpapi.New(env.Platform, httpapi.Options{Prefix: "/platform"})
	mux.Handle("/platform/", http.StripPrefix("/platform", api))

	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/platform/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var d httpapi.DiscoverResponse
	json.NewDecoder(resp.Body).Decode(&d)
	fmt.Println(resp.StatusCode, d.Endpoints[0].Method, d.Endpoints[0].Path)

	req, _ := http.NewRequest("GET", srv.URL+"/platform/whoami", nil)
	req.Header.Set("X-API-Key", env.APIKey)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp2.Body.Close()
	fmt.Println(resp2.StatusCode)
	// Output:
	// 200 GET /
	// 200
}
