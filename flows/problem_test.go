package flows_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/attest-dev/attest/flows"
)

// pinnedCodes is the --json error contract: every ProblemCode, by name and
// value, in the order of problem.go. Scripts match on these values, so a
// change here is a change of the contract: say so in the README's "--json
// errors" section too.
var pinnedCodes = [][2]string{
	{"ProblemInput", "bad_input"},
	{"ProblemThrottled", "throttled"},
	{"ProblemNoCode", "no_code"},
	{"ProblemWrongCode", "wrong_code"},
	{"ProblemCodeUsed", "code_used_up"},
	{"ProblemBackoff", "backoff"},
	{"ProblemSignedIn", "signed_in"},
	{"ProblemSignedOut", "signed_out"},
	{"ProblemSupport", "contact_support"},
	{"ProblemUnavailable", "unavailable"},
	{"ProblemStepUp", "step_up_required"},
	{"ProblemWrongPassword", "wrong_password"},
	{"ProblemNoAuthenticator", "no_authenticator"},
	{"ProblemWrongSignature", "wrong_signature"},
	{"ProblemNothingToDo", "nothing_to_do"},
	{"ProblemLastAddress", "last_address"},
	{"ProblemAddressLimit", "address_limit"},
	{"ProblemProviderUnavailable", "provider_unavailable"},
	{"ProblemOIDCDenied", "oidc_denied"},
	{"ProblemOIDCExpired", "oidc_expired"},
	{"ProblemOIDCRefused", "oidc_refused"},
	{"ProblemEmailTaken", "email_taken"},
	{"ProblemUsage", "usage"},
	{"ProblemUnknown", "unknown_command"},
	{"ProblemForbidden", "forbidden"},
	{"ProblemInternal", "internal"},
}

// TestProblemCodes pins the list of problem codes: the constants declared
// in problem.go, ProblemCodes, and that no other file in the module
// declares a code or makes one up from a string.
func TestProblemCodes(t *testing.T) {
	var want []flows.ProblemCode
	for _, c := range pinnedCodes {
		want = append(want, flows.ProblemCode(c[1]))
	}
	if !slices.Equal(flows.ProblemCodes, want) {
		t.Errorf("ProblemCodes is\n  %v\nwant\n  %v", flows.ProblemCodes, want)
	}

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var declared [][2]string
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inProblemGo := rel == filepath.Join("flows", "problem.go")
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				if !isProblemCode(n.Type) {
					return true
				}
				if !inProblemGo {
					t.Errorf("%s declares problem codes %v: every code belongs in flows/problem.go", fset.Position(n.Pos()), n.Names)
					return true
				}
				for i, name := range n.Names {
					lit, ok := n.Values[i].(*ast.BasicLit)
					if !ok {
						t.Errorf("%s: %s is not a string literal", fset.Position(n.Pos()), name)
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					declared = append(declared, [2]string{name.Name, v})
				}
			case *ast.CallExpr:
				// ProblemCode("x") makes up a code outside the list.
				if len(n.Args) == 1 && isProblemCode(n.Fun) && !strings.HasSuffix(rel, "_test.go") {
					if _, ok := n.Args[0].(*ast.BasicLit); ok {
						t.Errorf("%s converts a string literal to a ProblemCode: use a constant of flows/problem.go", fset.Position(n.Pos()))
					}
				}
			case *ast.KeyValueExpr:
				// Problem{Code: "x"} compiles (an untyped constant) but is
				// not one of the list.
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Code" && !strings.HasSuffix(rel, "_test.go") {
					if lit, ok := n.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						t.Errorf("%s sets a Code to the literal %s: use a constant of flows/problem.go", fset.Position(n.Pos()), lit.Value)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(declared, pinnedCodes) {
		t.Errorf("flows/problem.go declares\n  %v\nthe pinned list is\n  %v\nA change of the --json error contract is deliberate: update pinnedCodes and the README.", declared, pinnedCodes)
	}

	// The README documents each code, as `code`.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pinnedCodes {
		if !strings.Contains(string(readme), "`"+c[1]+"`") {
			t.Errorf("the README does not document the problem code %s", c[1])
		}
	}
}

// isProblemCode reports whether e names the type ProblemCode (in flows)
// or flows.ProblemCode (elsewhere).
func isProblemCode(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "ProblemCode"
	case *ast.SelectorExpr:
		return e.Sel.Name == "ProblemCode"
	}
	return false
}
