package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// linkedVersion and linkedCommit are set when the binary is linked, for
// builds without module or VCS information (a build from a source archive,
// a container build without .git):
//
//	go build -ldflags "-X main.linkedVersion=v1.2.3 -X main.linkedCommit=$(git rev-parse HEAD)" ./cmd/keyward
//
// They are written only by the linker, never at run time; what the build
// information records (a module version, a VCS revision) wins over them.
var (
	linkedVersion string
	linkedCommit  string
)

// newVersionCmd is "keyward version".
func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of keyward and of the Go toolchain that built it",
		Long: `Print the version of keyward, the commit it was built from and the Go
toolchain. The version and commit come from the build information (module
version, VCS stamping) and, where the build recorded none, from the values set
at link time with -ldflags "-X main.linkedVersion=... -X main.linkedCommit=...".`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info, _ := debug.ReadBuildInfo()
			_, err := fmt.Fprint(a.stdout, versionText(info, linkedVersion, linkedCommit))
			return err
		},
	}
}

// versionText describes the build: the module version, the commit it was
// built from when known, and the Go version and platform. info may be nil;
// linkVersion and linkCommit stand in for what info lacks.
func versionText(info *debug.BuildInfo, linkVersion, linkCommit string) string {
	var b strings.Builder
	version := ""
	var revision, when string
	var modified bool
	if info != nil {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if version == "" {
		version = linkVersion
	}
	if version == "" {
		version = "(devel)"
	}
	if revision == "" {
		revision, when, modified = linkCommit, "", false
	}
	fmt.Fprintf(&b, "keyward %s\n", version)
	if revision != "" {
		fmt.Fprintf(&b, "commit %s", revision)
		if when != "" {
			fmt.Fprintf(&b, " (%s)", when)
		}
		if modified {
			b.WriteString(" with local changes")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}
