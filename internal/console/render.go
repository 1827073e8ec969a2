package console

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"overview", "pins", "pin", "confirm", "add", "access", "login", "error"}

var funcs = template.FuncMap{
	"bytes": humanBytes,
	"short": shortID,
	"ago":   func(t time.Time) string { return ago(time.Now(), t) },
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what a page's template gets: who looks, and the page's data.
type view struct {
	V *viewer
	D any
	w http.ResponseWriter // set when the page is streamed (renderStream)
}

// Flush sends what the template wrote so far (a streamed page's head,
// before it reads what takes time); it writes nothing.
func (v view) Flush() string {
	if v.w != nil {
		http.NewResponseController(v.w).Flush()
	}
	return ""
}

// render writes a whole page. It renders into a buffer first, so that a
// template error is a clean 500, never half a page.
func (s *server) render(w http.ResponseWriter, code int, name string, v *viewer, data any) {
	s.renderTemplate(w, code, name, "layout", v, data)
}

// renderPart writes one fragment of a page, for the scripts that refresh
// it in place.
func (s *server) renderPart(w http.ResponseWriter, name, part string, v *viewer, data any) {
	s.renderTemplate(w, http.StatusOK, name, part, v, data)
}

func (s *server) renderTemplate(w http.ResponseWriter, code int, name, tmpl string, v *viewer, data any) {
	if v == nil {
		v = &viewer{Version: s.Version}
	}
	if v.Nav == "" {
		v.Nav = name
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, tmpl, view{V: v, D: data}); err != nil {
		s.Logger.Error("console template", "page", name, "template", tmpl, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// renderStream writes a page as its template runs, so that the head goes
// out (at the template's {{.Flush}}) before the data that takes time is
// read: the pins page, whose rows the cluster's peers are asked for. The
// status is 200 whatever happens next: what can be refused is checked
// before; a failure to list is written into the page.
func (s *server) renderStream(w http.ResponseWriter, name string, v *viewer, data any) {
	v.Nav = cmp.Or(v.Nav, name)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := s.pages[name].ExecuteTemplate(w, "layout", view{V: v, D: data, w: w}); err != nil {
		s.Logger.Error("console template", "page", name, "err", err)
	}
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortID is a peer ID's last 8 characters, as people tell peers apart.
func shortID(id string) string {
	if len(id) <= 8 {
		return id
	}
	return "…" + id[len(id)-8:]
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
