// Live parts: an element with data-live="URL" and data-every="ms" is
// replaced, every so often, by the fragment the server renders at URL
// (the same template that rendered it in the page). Polling pauses while
// the page is hidden; a 401 means the session ended: go to the login page.

export function startLive(root) {
  for (const el of root.querySelectorAll('[data-live]')) {
    const url = el.dataset.live;
    const every = Math.max(1000, Number(el.dataset.every) || 5000);
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const resp = await fetch(url, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } });
        if (resp.status === 401) {
          location.assign('/ui/login?next=' + encodeURIComponent(location.pathname + location.search));
          return;
        }
        if (!resp.ok) {
          el.dataset.stale = 'true';
          return;
        }
        const html = await resp.text();
        // Keep the focus where it was when the refreshed part had it.
        const focused = el.contains(document.activeElement) ? document.activeElement.id : '';
        el.innerHTML = html;
        delete el.dataset.stale;
        el.dataset.updated = String(Date.now());
        if (focused) document.getElementById(focused)?.focus();
      } catch {
        el.dataset.stale = 'true';
      } finally {
        busy = false;
      }
    };
    setInterval(tick, every);
  }
}
