// Entry point for pulumi-resource-random, built by build.sh.
//
// Embeds the committed schema.json (build.sh copies it from the module and
// stamps the version). random.Provider() panics unless
// github.com/pulumi/pulumi-random/provider/v4/pkg/version.Version is set by
// ldflag, which build.sh does.
package main

import (
	"context"
	_ "embed"

	random "github.com/pulumi/pulumi-random/provider/v4"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema.json
var pulumiSchema []byte

func main() {
	tfbridge.Main(context.Background(), "random", random.Provider(),
		tfbridge.ProviderMetadata{PackageSchema: pulumiSchema})
}
