package deploy

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// No container runtime runs where these tests run, so the image itself is
// never built here. What is checked instead is the binary the Dockerfile
// builds, built by the Dockerfile's own `go build` line, read from the file
// so that the two cannot drift apart, and the Dockerfile's agreement with
// the manifests. The base images, the final stage's COPY and USER in a real
// image are not (docs/operations.md says so).

// testVersion stands for `docker build --build-arg VERSION=...`.
const testVersion = "v0.0.0-imagetest"

// stage is one FROM of a Dockerfile and what follows it.
type stage struct {
	from, name string
	// args are the stage's ARG defaults, overridden by build arguments.
	args map[string]string
	// instrs are the stage's instructions after FROM: "RUN ...", "COPY ...".
	instrs []string
}

// parseDockerfile reads the stages of a Dockerfile: lines joined at a
// trailing backslash, comments and blank lines dropped.
func parseDockerfile(t *testing.T, path string) []*stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []*stage
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || (l == "" && line == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(l, "\\"); ok {
			line += cont + " "
			continue
		}
		line += l
		instr, rest, _ := strings.Cut(line, " ")
		line = ""
		switch instr = strings.ToUpper(instr); {
		case instr == "FROM":
			f := strings.Fields(rest)
			s := &stage{from: f[0], args: map[string]string{}}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			t.Fatalf("%s: %s before FROM", path, instr)
		case instr == "ARG":
			name, def, _ := strings.Cut(rest, "=")
			stages[len(stages)-1].args[name] = def
			fallthrough
		default:
			s := stages[len(stages)-1]
			s.instrs = append(s.instrs, instr+" "+strings.TrimSpace(rest))
		}
	}
	return stages
}

// find returns the stage's one instruction that matches re.
func (s *stage) find(t *testing.T, re string) string {
	t.Helper()
	var found []string
	for _, in := range s.instrs {
		if regexp.MustCompile(re).MatchString(in) {
			found = append(found, in)
		}
	}
	if len(found) != 1 {
		t.Fatalf("stage %s: %d instructions match %s, want 1: %q", s.from, len(found), re, found)
	}
	return found[0]
}

// shellWords splits one simple command as sh would: words separated by
// blanks, double quotes (with $VAR and ${VAR} expanded), single quotes.
// Anything that would make it more than one plain command fails the test:
// the test must run what the image build runs, and nothing else.
func shellWords(t *testing.T, cmd string, vars map[string]string) []string {
	t.Helper()
	if strings.ContainsAny(cmd, ";|&`<>") || strings.Contains(cmd, "$(") {
		t.Fatalf("the build line %q is more than one plain command: the test cannot run it as the image build does", cmd)
	}
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, ok := vars[name]
			if !ok {
				t.Fatalf("the build line uses $%s, which is no ARG of its stage", name)
			}
			return v
		})
	}
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(cmd); i++ {
		switch c := cmd[i]; c {
		case ' ', '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\'', '"':
			end := strings.IndexByte(cmd[i+1:], c)
			if end < 0 {
				t.Fatalf("unterminated %c in %q", c, cmd)
			}
			s := cmd[i+1 : i+1+end]
			if c == '"' {
				s = expand(s)
			}
			cur.WriteString(s)
			inWord = true
			i += end + 1
		case '\\':
			t.Fatalf("a backslash in the build line %q: not supported here", cmd)
		default:
			j := i
			for j < len(cmd) && !strings.ContainsRune(" \t'\"\\", rune(cmd[j])) {
				j++
			}
			cur.WriteString(expand(cmd[i:j]))
			inWord = true
			i = j - 1
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// dockerBuild is the Dockerfile's build line, taken apart.
type dockerBuild struct {
	env  []string // NAME=value words before the command
	args []string // after `go build`
	out  string   // the -o path inside the image
}

func parseBuild(t *testing.T, stages []*stage) dockerBuild {
	t.Helper()
	if len(stages) != 2 {
		t.Fatalf("the Dockerfile has %d stages, want 2 (build, final)", len(stages))
	}
	build := stages[0]
	if in := build.find(t, `^WORKDIR `); in != "WORKDIR /src" {
		t.Fatalf("the build stage's %q: the test builds from the repository's root, which COPY . . puts in /src", in)
	}
	build.find(t, `^COPY \. \.$`)
	run := strings.TrimPrefix(build.find(t, `^RUN .*\bgo build\b`), "RUN ")
	vars := map[string]string{}
	for k, v := range build.args {
		vars[k] = v
	}
	vars["VERSION"] = testVersion // --build-arg VERSION=...
	words := shellWords(t, run, vars)
	var b dockerBuild
	for len(words) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(words[0]) {
		b.env, words = append(b.env, words[0]), words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		t.Fatalf("the build line %q does not run `go build`", run)
	}
	b.args = words[2:]
	for i, a := range b.args {
		if a == "-o" && i+1 < len(b.args) {
			b.out = b.args[i+1]
		}
	}
	if b.out == "" {
		t.Fatalf("the build line %q names no -o output", run)
	}
	return b
}

var (
	builtOnce sync.Once
	built     string
	buildErr  error
	buildLine dockerBuild
)

// sailplanBinary builds sailplan exactly as the Dockerfile does, but for
// the -o path, once for the package's tests.
func sailplanBinary(t *testing.T) (string, dockerBuild) {
	t.Helper()
	builtOnce.Do(func() {
		stages := parseDockerfile(t, "../Dockerfile")
		buildLine = parseBuild(t, stages)
		dir, err := os.MkdirTemp("", "sailplan-image-test-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "sailplan")
		args := append([]string{"build"}, buildLine.args...)
		for i, a := range args {
			if a == buildLine.out {
				args[i] = built
			}
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = ".." // /src in the image: the repository's root
		// The golang image sets no GOFLAGS, and .dockerignore keeps .git
		// out of the image build, so go stamps no VCS information there
		// (-buildvcs=false is what it does without a .git). The build
		// line's own variables come last, as sh puts them in the
		// command's environment.
		cmd.Env = append(append(os.Environ(), "GOFLAGS=-buildvcs=false"), buildLine.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if built == "" {
		t.Fatal("the image's build line could not be read (see the first test that asked for it)")
	}
	return built, buildLine
}

// TestImageBinary: the binary the Dockerfile builds is static (the
// distroless static base has no libc), carries no path of the machine
// that built it, and says the version it was stamped with.
func TestImageBinary(t *testing.T) {
	bin, line := sailplanBinary(t)
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), ".git") {
		t.Errorf("../.dockerignore does not list .git (%v): the image build would stamp VCS information, which this test's build does not", err)
	}
	if !slices.Contains(line.env, "CGO_ENABLED=0") || !slices.Contains(line.args, "-trimpath") {
		t.Errorf("the build line has env %q and args %q: want CGO_ENABLED=0 and -trimpath", line.env, line.args)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %s program header: it is dynamically linked", p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Error("the binary has a .dynamic section")
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %q (%v)", libs, err)
	}

	// What the Go toolchain recorded of the build.
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// (Go does not record -ldflags with -trimpath, as they often hold
	// paths: `sailplan version` below shows the -X stamp took.)
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(root+"/")) {
		t.Errorf("the binary contains the path of the checkout it was built from (%s): -trimpath did not hold", root)
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if want := "sailplan " + testVersion + "\n"; err != nil || string(out) != want {
		t.Errorf("sailplan version: %q (%v), want %q", out, err, want)
	}
}

// TestImageFinalStage: the final stage runs the binary the build stage
// made, as the numeric non-root user the Deployment runs as. Static text
// only: the stage itself cannot be built here.
func TestImageFinalStage(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	line := parseBuild(t, stages)
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %s: want a distroless static base (the binary needs no libc)", final.from)
	}
	cp := strings.Fields(final.find(t, `^COPY --from=`))
	if len(cp) != 4 || cp[1] != "--from="+stages[0].name || cp[2] != line.out {
		t.Fatalf("final stage %q: want COPY --from=%s %s DEST", strings.Join(cp, " "), stages[0].name, line.out)
	}
	entry := final.find(t, `^ENTRYPOINT `)
	if want := fmt.Sprintf(`ENTRYPOINT ["%s"]`, cp[3]); entry != want {
		t.Errorf("%s, want %s: the binary the build stage made", entry, want)
	}
	user := final.find(t, `^USER `)

	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsUser, RunAsGroup *int64
					} `json:"securityContext"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	b, err := os.ReadFile("base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	sc := d.Spec.Template.Spec.SecurityContext
	if sc.RunAsUser == nil || sc.RunAsGroup == nil || *sc.RunAsUser == 0 {
		t.Fatalf("the Deployment sets runAsUser %v, runAsGroup %v: want a non-root user and group", sc.RunAsUser, sc.RunAsGroup)
	}
	if want := fmt.Sprintf("USER %d:%d", *sc.RunAsUser, *sc.RunAsGroup); user != want {
		t.Errorf("Dockerfile %q, Deployment runs as %d:%d: want %q", user, *sc.RunAsUser, *sc.RunAsGroup, want)
	}
}
