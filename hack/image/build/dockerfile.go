package build

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// The final stage must start from the image whose files baseFilesystem writes.
var distrolessNonroot = regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot(@sha256:[0-9a-f]{64})?$`)

var (
	escapeDirective = regexp.MustCompile(`(?i)^#\s*escape\s*=`)
	continuation    = regexp.MustCompile(`\\[ \t]*$`)
	heredoc         = regexp.MustCompile(`<<-?["']?[A-Za-z_]`)
)

// instruction is one logical line of a Dockerfile.
type instruction struct {
	line    int    // the first physical line, from 1
	keyword string // upper case
	args    string // the rest, continuation lines joined
}

func (in instruction) String() string {
	s := in.keyword + " " + in.args
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// ParseDockerfile reads the final stage of a Dockerfile (file names it in errors) and
// returns Base with the stage applied. The stage must start from
// gcr.io/distroless/static:nonroot and COPY one file from an earlier stage: the binary.
// Any instruction this package cannot reproduce is an error naming its line, so that a
// change to the Dockerfile fails here instead of building a different image.
func ParseDockerfile(file string, r io.Reader) (Definition, error) {
	instructions, err := readInstructions(file, r)
	if err != nil {
		return Definition{}, err
	}
	var (
		stages []string      // earlier stages' names, lower case, "" when unnamed
		final  []instruction // the latest stage, from its FROM; the final one after the loop
	)
	for _, in := range instructions {
		switch {
		case in.keyword == "FROM":
			if final != nil {
				stages = append(stages, stageName(final[0]))
			}
			final = []instruction{in}
		case final == nil && in.keyword != "ARG":
			return Definition{}, fmt.Errorf("%s:%d: %s before the first FROM", file, in.line, in)
		case final != nil:
			final = append(final, in)
		}
	}
	if final == nil {
		return Definition{}, fmt.Errorf("%s: no FROM", file)
	}
	s := finalStage{file: file, stages: stages, def: Base(), base: baseFilesystem(nil)}
	return s.apply(final)
}

// readInstructions splits a Dockerfile into instructions as docker does: comment and
// empty lines dropped, also inside a continuation, and continuations joined.
func readInstructions(file string, r io.Reader) ([]instruction, error) {
	var (
		out     []instruction
		pending *instruction
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		trimmed := strings.TrimSpace(text)
		if len(out) == 0 && pending == nil && escapeDirective.MatchString(trimmed) {
			return nil, fmt.Errorf("%s:%d: the escape parser directive is not supported", file, n)
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if pending == nil {
			keyword, args := cutSpace(trimmed)
			pending = &instruction{line: n, keyword: strings.ToUpper(keyword)}
			text = args
		}
		if !continuation.MatchString(text) {
			pending.args = strings.TrimSpace(pending.args + text)
			out = append(out, *pending)
			pending = nil
			continue
		}
		pending.args += continuation.ReplaceAllString(text, "")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if pending != nil {
		pending.args = strings.TrimSpace(pending.args)
		out = append(out, *pending)
	}
	for _, in := range out {
		if (in.keyword == "RUN" || in.keyword == "COPY" || in.keyword == "ADD") && heredoc.MatchString(in.args) {
			return nil, fmt.Errorf("%s:%d: %s: heredocs are not supported", file, in.line, in)
		}
	}
	return out, nil
}

// cutSpace splits s at its first white space.
func cutSpace(s string) (head, tail string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// stageName returns the lower-case name a FROM line gives its stage, or "".
func stageName(from instruction) string {
	words := strings.Fields(from.args)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		words = words[1:]
	}
	if len(words) == 3 && strings.EqualFold(words[1], "AS") {
		return strings.ToLower(words[2])
	}
	return ""
}

// finalStage applies the final stage's instructions to a Definition.
type finalStage struct {
	file   string
	stages []string
	def    Definition
	base   filesystem
	copied bool
}

func (s *finalStage) errorf(in instruction, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", s.file, in.line, in, fmt.Sprintf(format, args...))
}

func (s *finalStage) apply(instructions []instruction) (Definition, error) {
	from := instructions[0]
	if err := s.from(from); err != nil {
		return Definition{}, err
	}
	for _, in := range instructions[1:] {
		if err := s.instruction(in); err != nil {
			return Definition{}, err
		}
	}
	if !s.copied {
		return Definition{}, s.errorf(from, "the final stage copies no binary (want COPY --from=<stage> <binary> <destination>)")
	}
	return s.def, nil
}

func (s *finalStage) from(in instruction) error {
	words := strings.Fields(in.args)
	if len(words) == 3 && strings.EqualFold(words[1], "AS") {
		words = words[:1]
	}
	if len(words) != 1 || !distrolessNonroot.MatchString(words[0]) {
		return s.errorf(in, "the final stage must be FROM gcr.io/distroless/static:nonroot without flags, whose files hack/image writes")
	}
	return nil
}

func (s *finalStage) instruction(in instruction) error {
	switch in.keyword {
	case "ENTRYPOINT", "CMD":
		argv, err := commandLine(in.args)
		if err != nil {
			return s.errorf(in, "%v", err)
		}
		if in.keyword == "CMD" {
			s.def.Cmd = argv
		} else {
			s.def.Entrypoint = argv
		}
		return nil
	case "WORKDIR", "COPY", "USER", "ENV", "LABEL", "EXPOSE":
		// Docker substitutes variables in these; refusing them keeps this parser honest.
		if strings.Contains(in.args, "$") {
			return s.errorf(in, "variable substitution is not supported")
		}
	default:
		return s.errorf(in, "%s is not supported in the final stage (hack/image would build a different image than docker)", in.keyword)
	}

	var err error
	switch in.keyword {
	case "WORKDIR":
		err = s.workdir(in.args)
	case "COPY":
		err = s.copyBinary(in.args)
	case "USER":
		err = s.user(in.args)
	case "ENV":
		err = s.env(in.args)
	case "LABEL":
		err = s.label(in.args)
	case "EXPOSE":
		err = s.expose(in.args)
	}
	if err != nil {
		return s.errorf(in, "%v", err)
	}
	return nil
}

func (s *finalStage) workdir(args string) error {
	if args == "" {
		return errors.New("no directory")
	}
	dir := path.Join(s.def.WorkingDir, args)
	if path.IsAbs(args) {
		dir = path.Clean(args)
	}
	if !s.base.isDir(dir) {
		// Docker would create it; the owner it gets differs between builders.
		return fmt.Errorf("%s is not a directory of the base image, and creating one is not supported", dir)
	}
	s.def.WorkingDir = dir
	return nil
}

// copyBinary reads COPY --from=<stage> <src> <dst>. src is the binary given to Build,
// whatever its name on disk (make builds bin/manager-linux for the builder's manager):
// the only COPY there is; its base name names the file when dst is a directory.
func (s *finalStage) copyBinary(args string) error {
	if s.copied {
		return errors.New("a second COPY: hack/image puts exactly one binary into the image")
	}
	var from string
	rest := strings.TrimSpace(args)
	for strings.HasPrefix(rest, "--") {
		var flag string
		flag, rest = cutSpace(rest)
		switch name, value, _ := strings.Cut(flag, "="); name {
		case "--from":
			from = value
		case "--link": // only changes how docker caches the layer
		default:
			return fmt.Errorf("flag %s is not supported", name)
		}
	}
	if from == "" {
		return errors.New("COPY from the build context is not supported; copy the binary from an earlier stage with --from")
	}
	if !s.isStage(from) {
		return fmt.Errorf("--from=%s is not an earlier stage; copying from an image is not supported", from)
	}
	paths := strings.Fields(rest)
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &paths); err != nil {
			return fmt.Errorf("JSON form: %w", err)
		}
	}
	if len(paths) != 2 {
		return errors.New("want one source and one destination")
	}
	src, dst := paths[0], paths[1]
	if strings.ContainsAny(src, "*?[") || strings.HasSuffix(src, "/") {
		return fmt.Errorf("source %s is not one file", src)
	}
	full := path.Join(s.def.WorkingDir, dst)
	if path.IsAbs(dst) {
		full = path.Clean(dst)
	}
	if strings.HasSuffix(dst, "/") || s.base.isDir(full) {
		full = path.Join(full, path.Base(src))
	}
	s.def.BinaryPath = full
	s.copied = true
	return nil
}

// isStage reports whether name (or index) names an earlier stage.
func (s *finalStage) isStage(name string) bool {
	if i, err := strconv.Atoi(name); err == nil {
		return i >= 0 && i < len(s.stages)
	}
	for _, stage := range s.stages {
		if stage != "" && stage == strings.ToLower(name) {
			return true
		}
	}
	return false
}

func (s *finalStage) user(args string) error {
	words := strings.Fields(args)
	if len(words) != 1 {
		return errors.New("want one user[:group]")
	}
	s.def.User = words[0]
	return nil
}

func (s *finalStage) env(args string) error {
	pairs, err := keyValues(args)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		s.def.setEnv(kv[0], kv[1])
	}
	return nil
}

func (s *finalStage) label(args string) error {
	pairs, err := keyValues(args)
	if err != nil {
		return err
	}
	if s.def.Labels == nil {
		s.def.Labels = map[string]string{}
	}
	for _, kv := range pairs {
		s.def.Labels[kv[0]] = kv[1]
	}
	return nil
}

func (s *finalStage) expose(args string) error {
	for _, word := range strings.Fields(args) {
		port, proto, found := strings.Cut(word, "/")
		if !found {
			proto = "tcp"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s: want a number from 1 to 65535", word)
		}
		if proto = strings.ToLower(proto); proto != "tcp" && proto != "udp" && proto != "sctp" {
			return fmt.Errorf("port %s: unknown protocol %s", word, proto)
		}
		s.def.ExposedPorts = append(s.def.ExposedPorts, port+"/"+proto)
	}
	return nil
}

// commandLine returns the argv of ENTRYPOINT or CMD: the JSON form as is, anything else
// (docker's shell form) wrapped in /bin/sh -c as docker does, although distroless has no
// shell for it to run.
func commandLine(args string) ([]string, error) {
	if strings.HasPrefix(args, "[") {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err == nil {
			return argv, nil
		}
	}
	if args == "" {
		return nil, errors.New("no command")
	}
	return []string{"/bin/sh", "-c", args}, nil
}

// keyValues reads the pairs of ENV and LABEL: key=value words, quoted as in a shell, or
// the legacy single "key value" form.
func keyValues(args string) ([][2]string, error) {
	words, err := shellWords(args)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, errors.New("want key=value")
	}
	if !strings.Contains(words[0], "=") {
		key, value := cutSpace(args)
		return [][2]string{{key, value}}, nil
	}
	pairs := make([][2]string, 0, len(words))
	for _, word := range words {
		key, value, ok := strings.Cut(word, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("%q is not key=value", word)
		}
		pairs = append(pairs, [2]string{key, value})
	}
	return pairs, nil
}

// shellWords splits s at unquoted white space and removes the quoting: single quotes keep
// everything, double quotes and a bare backslash escape the next character.
func shellWords(s string) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool
		quote  rune
	)
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		switch {
		case quote == '\'' && c == '\'', quote == '"' && c == '"':
			quote = 0
		case quote == '\'':
			word.WriteRune(c)
		case c == '\\' && i+1 < len(runes) && (quote == 0 || strings.ContainsRune(`"\$`, runes[i+1])):
			i++
			word.WriteRune(runes[i])
			inWord = true
		case quote == '"':
			word.WriteRune(c)
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case unicode.IsSpace(c):
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
