"""The quality check's driver: the script run inside the sandbox with the tools venv's Python.

It runs ruff and collects, for the host to judge, what ruff cannot say: the suppression-like
comments, files in other encodings, files ruff skipped, and compiled files Python could
import instead of the linted source. Everything it writes is untrusted on the host.
"""

# Runs as `python -I -c DRIVER RUFF TARGET OUT SELECT EXCLUDE` with the tools venv.
# argv only: nothing from the checkout is read as configuration. ruff writes its JSON
# itself; the driver writes the version, ruff's exit codes and the suppression-like
# comments of every Python file ruff checked.
DRIVER = r"""
import codecs, importlib.machinery, io, json, os, re, subprocess, sys, tokenize
ruff, target, out, select, exclude = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
lint_json = os.path.join(out, "ruff.json")
status_json = os.path.join(out, "comments.json")
for stale in (lint_json, lint_json + ".tmp", status_json, status_json + ".tmp"):
    try:
        os.unlink(stale)
    except FileNotFoundError:
        pass
status = {}
common = [ruff, "check", "--isolated", "--no-cache", "--no-respect-gitignore", "--force-exclude",
          "--select", select, "--exclude", exclude]
version = subprocess.run([ruff, "--version"], capture_output=True, text=True, timeout=120)
status["version"] = version.stdout.strip()[:100]
lint = subprocess.run(
    common + ["--ignore-noqa", "--exit-zero", "--output-format", "json", "--output-file", lint_json, target],
    cwd=target, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
)
status["lint_exit"] = lint.returncode
status["lint_stderr"] = lint.stderr[-2000:]
# Only what the host reads, so that many findings still fit the byte cap.
keep = ("code", "filename", "location", "message", "name", "noqa_row", "url")
try:
    with open(lint_json, encoding="utf-8") as handle:
        found = json.load(handle)
    with open(lint_json + ".tmp", "w", encoding="utf-8") as handle:
        json.dump([{k: item.get(k) for k in keep} for item in found], handle)
    os.replace(lint_json + ".tmp", lint_json)
except Exception as exc:
    status["compact_error"] = repr(exc)[:300]
listing = subprocess.run(common + ["--show-files", target], cwd=target, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, errors="replace")
status["files_exit"] = listing.returncode
files = [line for line in listing.stdout.splitlines() if line.startswith("/")]
status["files"] = len(files)
pattern = re.compile(r"noqa|(?:ruff|flake8|isort)\s*:", re.I)
comments, problems, encodings, sources = [], [], [], {}
# ruff reads every file as UTF-8 and ignores coding cookies; Python honours them. A file in
# another encoding is either unlinted (ruff cannot decode it) or linted as other text than
# Python runs (UTF-7 hides code in what ruff takes for a comment): the host blocks on both.
# CPython ends a line at a bare CR too, tokenize's readline only at LF: the cookie and the
# comments are read from the text with every line end made LF, as Python sees the lines.
for name in files:
    if not name.endswith((".py", ".pyi")):
        continue
    try:
        with open(name, "rb") as handle:
            data = handle.read()
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        declared = tokenize.detect_encoding(io.BytesIO(lines).readline)[0]
        data.decode("utf-8")
        if codecs.lookup(declared).name not in ("utf-8", "utf-8-sig", "ascii"):
            encodings.append([name, "declares " + declared[:40]])
        else:
            sources[name] = lines
    except UnicodeDecodeError:
        encodings.append([name, "not UTF-8"])
    except Exception as exc:
        encodings.append([name, type(exc).__name__])
    if len(encodings) >= 1000:
        break
status["encodings"] = encodings
# Files Python imports that are not source (bytecode, which an unchecked-hash .pyc makes run
# instead of the linted .py, and extension modules): ruff never reads them.
compiled_suffixes = tuple(importlib.machinery.BYTECODE_SUFFIXES + importlib.machinery.EXTENSION_SUFFIXES)
skipped_dirs = set(exclude.split(","))
compiled = []
for folder, dirs, names in os.walk(target):
    dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) not in skipped_dirs)
    in_cache = os.path.basename(folder) == "__pycache__"
    compiled += [os.path.join(folder, n) for n in sorted(names) if in_cache or n.endswith(compiled_suffixes)]
    if len(compiled) >= 1000:
        break
status["compiled"] = compiled[:1000]
# Files ruff skipped with only a warning (its io-error rule is the owner's to select).
status["unlinted"] = [line.split("Failed to lint ", 1)[1][:2000]
                      for line in lint.stderr.splitlines() if "Failed to lint " in line][:1000]
# Past the cap, or after a tokenize error, comments go unread: the host does not judge such
# a delivery, since isort's action comments act whether or not the engine read them.
status["comments_truncated"] = False
for name, lines in sources.items():
    try:
        for token in tokenize.tokenize(io.BytesIO(lines).readline):
            if token.type == tokenize.COMMENT and pattern.search(token.string):
                if len(comments) >= 50000:
                    status["comments_truncated"] = True
                    break
                comments.append([name, token.start[0], token.string[:2000]])
    except Exception as exc:
        problems.append([name, type(exc).__name__])
    if status["comments_truncated"]:
        break
status["comments"] = comments
status["comment_errors"] = problems[:1000]
with open(status_json + ".tmp", "w", encoding="utf-8") as handle:
    json.dump(status, handle)
os.replace(status_json + ".tmp", status_json)
"""
