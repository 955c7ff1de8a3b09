// Entry point for pulumi-resource-kubernetes, built by build.sh.
//
// The upstream main embeds files produced by `go generate`, which are not in
// the Go module zip. This main embeds the committed JSON files instead;
// build.sh copies them from the module (and stamps the version into
// schema.json) next to this file in its work area.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var pulumiSchema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

//go:embed helm-mapping.json
var helmMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping, helmMapping)
}
