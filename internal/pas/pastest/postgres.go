package pastest

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
)

// Postgres is a throw-away PostgreSQL cluster started from the server
// binaries of Debian's postgresql package.
type Postgres struct {
	dir  string
	bin  string
	port int
	as   []string // command prefix running as the cluster's owner
	n    atomic.Int32
}

// StartPostgres initialises and starts a PostgreSQL cluster in a new
// temporary directory, listening on a free loopback port with trust
// authentication, and stops and removes it when t ends. It skips t, saying
// why, when no server binaries are installed (apt-get install postgresql)
// or, running as root, when there is no "postgres" user to run it as
// (PostgreSQL refuses to run as root).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		t.Skip("PostgreSQL server binaries not found (initdb, pg_ctl): apt-get install postgresql to run this test")
	}
	p := &Postgres{bin: bin}
	dir, err := os.MkdirTemp("", "truce-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root and there is no \"postgres\" user to run PostgreSQL as (it refuses root): install Debian's postgresql package, which makes it")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			t.Skip("running as root without runuser to start PostgreSQL as the postgres user")
		}
		p.as = []string{runuser, "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	p.run(t, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// fsync stays on: the tests kill replicas, not the database, but the
	// figures measured with this cluster should be those of a durable one.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c max_connections=200", p.port, dir)
	p.run(t, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
	t.Cleanup(func() {
		cmd := exec.Command(p.cmd("pg_ctl")[0], append(p.cmd("pg_ctl")[1:], "-D", data, "-m", "immediate", "-w", "stop")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("stopping PostgreSQL: %v\n%s", err, out)
		}
	})
	return p
}

// postgresBin finds the directory of initdb and pg_ctl: on PATH, or the
// newest /usr/lib/postgresql/*/bin.
func postgresBin() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (p *Postgres) cmd(name string, args ...string) []string {
	return append(append(append([]string{}, p.as...), filepath.Join(p.bin, name)), args...)
}

func (p *Postgres) run(t testing.TB, name string, args ...string) {
	t.Helper()
	c := p.cmd(name, args...)
	cmd := exec.Command(c[0], c[1:]...)
	cmd.Dir = p.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		t.Fatalf("%s: %v\n%s\n%s", name, err, out.Bytes(), log)
	}
}

// NewDatabase creates an empty database in the cluster and returns its
// postgres:// URL.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("truce%d", p.n.Add(1))
	db, err := sql.Open("pgx", p.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	return p.URL(name)
}

// URL is the postgres:// URL of database name in the cluster.
func (p *Postgres) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, name)
}
