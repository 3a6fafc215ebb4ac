package build

import (
	"debug/elf"
	"fmt"
	"strings"
)

// StaticArch returns the GOARCH of the Linux executable at path, and an error unless it is
// statically linked: the image has no libc or dynamic loader for it to use.
func StaticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("binary %s: %w", path, err)
	}
	defer f.Close()

	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", fmt.Errorf("binary %s: ELF type %s is not an executable", path, f.Type)
	}
	var arch string
	switch f.Machine {
	case elf.EM_X86_64:
		arch = "amd64"
	case elf.EM_AARCH64:
		arch = "arm64"
	default:
		return "", fmt.Errorf("binary %s: machine %s is neither amd64 nor arm64", path, f.Machine)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("binary %s is dynamically linked (it needs the loader %s); build it with CGO_ENABLED=0", path, interpreter(prog))
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return "", fmt.Errorf("binary %s: read dynamic section: %w", path, err)
	}
	if len(libs) > 0 {
		return "", fmt.Errorf("binary %s is dynamically linked (it needs %s); build it with CGO_ENABLED=0", path, strings.Join(libs, ", "))
	}
	return arch, nil
}

// interpreter returns the loader a PT_INTERP segment names.
func interpreter(prog *elf.Prog) string {
	b := make([]byte, prog.Filesz)
	if _, err := prog.ReadAt(b, 0); err != nil {
		return "unreadable"
	}
	return strings.TrimRight(string(b), "\x00")
}
