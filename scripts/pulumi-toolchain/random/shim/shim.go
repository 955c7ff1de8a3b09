// Package shim recreates pulumi-random's nested provider/shim module, which
// the provider/v4 module replaces with a local directory that no module zip
// carries. It only exposes the upstream Terraform provider's constructor.
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

func NewProvider() tfpf.Provider {
	return provider.New()
}
