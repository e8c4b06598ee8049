package httpapi

// BuildOpenAPI exposes the generator to the external tests, for route
// tables made up by the test.
var BuildOpenAPI = buildOpenAPI
