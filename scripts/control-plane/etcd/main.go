// Command etcd is etcd's own entry point (go.etcd.io/etcd/v3's main.go), so
// that build.sh can compile the server from the go.etcd.io/etcd/server/v3
// module that the Go module proxy serves.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
