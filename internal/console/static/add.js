// Uploads: files or a folder, chosen or dropped, sent as the REST API's
// /add multipart body (IPFS Cluster's and Kubo's format: directories as
// application/x-directory parts before their entries, names URL-encoded)
// with XMLHttpRequest, whose upload events give the progress bar. The
// answer is NDJSON; its last line is the root.

function csrf() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? '';
}

// encodeName escapes a path as the multipart reader unescapes it
// (url.QueryUnescape): '+' must not become a space.
function encodeName(path) {
  return encodeURIComponent(path).replace(/\+/g, '%2B');
}

// entriesOf reads a dropped folder (webkitGetAsEntry) into [path, File].
async function entriesOf(items) {
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((ok, fail) => entry.file(ok, fail));
      out.push([prefix + entry.name, file]);
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const e of batch) await walk(e, prefix + entry.name + '/');
    }
  };
  for (const item of items) {
    const entry = item.webkitGetAsEntry?.();
    if (entry) await walk(entry, '');
    else if (item.kind === 'file') out.push([item.getAsFile().name, item.getAsFile()]);
  }
  return out;
}

// body builds the multipart form: every directory once, before its
// entries, entries in path order.
export function body(files) {
  const form = new FormData();
  const sorted = [...files].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const dirs = new Set();
  for (const [path, file] of sorted) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        form.append('file', new Blob([], { type: 'application/x-directory' }), encodeName(dir));
      }
    }
    form.append('file', file, encodeName(path));
  }
  return form;
}

export function startAdd(root) {
  const form = root.getElementById?.('add-form');
  if (!form) return;
  const drop = root.getElementById('drop');
  const filesInput = root.getElementById('files');
  const folderInput = root.getElementById('folder');
  const chosen = root.getElementById('chosen');
  const progress = root.getElementById('add-progress');
  const status = root.getElementById('add-status');
  const result = root.getElementById('add-result');
  const link = root.getElementById('add-cid');
  let files = [];

  const show = () => {
    const bytes = files.reduce((n, [, f]) => n + f.size, 0);
    chosen.textContent = files.length ? `${files.length} file(s), ${bytes} bytes: ${files.slice(0, 5).map(([p]) => p).join(', ')}${files.length > 5 ? ', …' : ''}` : 'Nothing chosen.';
  };
  filesInput.addEventListener('change', () => { files = [...filesInput.files].map((f) => [f.name, f]); show(); });
  folderInput.addEventListener('change', () => { files = [...folderInput.files].map((f) => [f.webkitRelativePath || f.name, f]); show(); });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    files = await entriesOf([...e.dataTransfer.items]);
    show();
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!files.length) { status.textContent = 'Choose files or a folder first.'; return; }
    const q = new URLSearchParams();
    for (const name of ['name', 'replication-min', 'replication-max']) {
      const v = form.elements[name].value.trim();
      if (v) q.set(name, v);
    }
    for (const name of ['wrap-with-directory', 'cid-version']) {
      if (form.elements[name].checked) q.set(name, form.elements[name].value);
    }
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.dataset.endpoint + '?' + q.toString());
    xhr.setRequestHeader('X-CSRF-Token', csrf());
    xhr.upload.addEventListener('progress', (ev) => {
      if (ev.lengthComputable) { progress.max = ev.total; progress.value = ev.loaded; }
    });
    xhr.upload.addEventListener('load', () => { status.textContent = 'Uploaded; the peers are storing it…'; });
    xhr.addEventListener('load', () => {
      form.elements['add-submit'].disabled = false;
      const lines = xhr.responseText.split('\n').filter((l) => l.trim());
      let last = null;
      try { last = lines.length ? JSON.parse(lines[lines.length - 1]) : null; } catch { last = null; }
      const streamErr = xhr.getResponseHeader('X-Stream-Error');
      if (xhr.status !== 200 || !last || !last.cid || streamErr) {
        status.textContent = 'Failed: ' + ((last && last.message) || streamErr || xhr.statusText || ('status ' + xhr.status));
        return;
      }
      const cid = typeof last.cid === 'string' ? last.cid : last.cid['/'];
      progress.value = progress.max;
      status.textContent = `Added ${lines.length} entr${lines.length === 1 ? 'y' : 'ies'}, pinned on ${last.allocations?.length ?? 0} peer(s).`;
      link.textContent = cid;
      link.href = '/ui/pins/' + encodeURIComponent(cid);
      result.hidden = false;
    });
    xhr.addEventListener('error', () => {
      form.elements['add-submit'].disabled = false;
      status.textContent = 'Failed: the upload did not reach the peer.';
    });
    form.elements['add-submit'].disabled = true;
    result.hidden = true;
    progress.value = 0;
    status.textContent = 'Uploading…';
    xhr.send(body(files));
  });
}
