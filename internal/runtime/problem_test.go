package runtime

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/truce-project/truce/api"
)

// TestProblemStatuses: every problem the runtime makes (newProblem and
// problem literals in its sources) has a type api.Problems lists and a
// status that type allows, so that the one table says what the runtime
// answers. The internal failure is api.ProblemInternal, not a refusal.
func TestProblemStatuses(t *testing.T) {
	statuses := map[string]int{} // "StatusConflict" → 409
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			statuses["Status"+strings.NewReplacer(" ", "", "-", "", "'", "").Replace(text)] = code
		}
	}
	names := problemNames(t)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := 0
	check := func(at token.Pos, status, name ast.Expr) {
		seen++
		where := fset.Position(at).String()
		code, ok := statuses[selected(status, "http")]
		if !ok {
			t.Errorf("%s: status %s is not an http.Status constant", where, exprString(status))
			return
		}
		n, ok := names[selected(name, "api")]
		if !ok {
			t.Errorf("%s: problem type %s is not an api.Problem constant", where, exprString(name))
			return
		}
		typ, ok := api.Problems.Type(n)
		switch {
		case !ok:
			t.Errorf("%s: problem type %q is not in api.Problems", where, n)
		case !typ.Allows(code):
			t.Errorf("%s: problem type %q answered with %d; api.Problems allows %d and %v", where, n, code, typ.Status, typ.Also)
		case code == http.StatusInternalServerError && n != api.ProblemInternal:
			t.Errorf("%s: a 500 typed %q, not %q", where, n, api.ProblemInternal)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				return n.Name.Name != "newProblem" // the constructor itself
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "newProblem" && len(n.Args) >= 2 {
					check(n.Pos(), n.Args[0], n.Args[1])
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "problem" {
					var status, name ast.Expr
					for _, e := range n.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							switch k, _ := kv.Key.(*ast.Ident); {
							case k != nil && k.Name == "status":
								status = kv.Value
							case k != nil && k.Name == "name":
								name = kv.Value
							}
						}
					}
					if status != nil && name != nil {
						check(n.Pos(), status, name)
					}
				}
			}
			return true
		})
	}
	if seen < 50 {
		t.Fatalf("found %d problems in the runtime's sources: the scan is broken", seen)
	}
}

// problemNames reads the api.Problem* string constants of package api.
func problemNames(t *testing.T) map[string]string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "api", "api.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range file.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if i >= len(vs.Values) || !strings.HasPrefix(id.Name, "Problem") {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out[id.Name] = v
				}
			}
		}
	}
	return out
}

// selected returns X of pkg.X, or "".
func selected(e ast.Expr, pkg string) string {
	if s, ok := e.(*ast.SelectorExpr); ok {
		if id, ok := s.X.(*ast.Ident); ok && id.Name == pkg {
			return s.Sel.Name
		}
	}
	return ""
}

func exprString(e ast.Expr) string {
	if s := selected(e, "http"); s != "" {
		return "http." + s
	}
	if s := selected(e, "api"); s != "" {
		return "api." + s
	}
	return "(an expression)"
}
