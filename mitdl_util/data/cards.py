"""Human-readable dataset cards in ``datasets/``, generated from the registry (and checked against it)."""

from __future__ import annotations

from pathlib import Path

from .download import DEADLINE_S
from .registry import REGISTRY, Dataset

HEADER = "<!-- Generated from mitdl_util/data/registry.py by `mitdl data cards --write`; do not edit by hand. -->"


def render_card(ds: Dataset) -> str:
    """The Markdown card of one dataset."""
    lines = [HEADER, "", f"# {ds.name} — {ds.title}", "", ds.description, "", "| field | value |", "|---|---|"]
    rows = [
        ("name", f"`{ds.name}`"),
        ("version", ds.version),
        ("kind", ds.kind),
        ("size", ds.size),
        ("licence", ds.licence),
        ("loader", f"`{ds.loader}`"),
    ]
    if ds.kind == "download":
        rows += [
            ("file in cache", f"`$MITDL_DATA_DIR/{ds.filename}`"),
            ("sha256", f"`{ds.sha256}`" if ds.sha256 else "**not pinned** — downloads refuse without opt-in"),
            ("size (bytes)", str(ds.size_bytes) if ds.size_bytes else "unknown"),
        ]
        rows += [("primary URL" if i == 0 else f"mirror {i}", url) for i, url in enumerate(ds.urls)]
        if ds.archive:
            rows.append(("archive", ds.archive))
            rows.append(("unpacks to at most (bytes)", str(ds.unpacked_bytes) if ds.unpacked_bytes else "no bound"))
    elif ds.kind == "package":
        rows.append(("shipped by", f"`{ds.package}`"))
    else:
        rows.append(("folder", f"`$MITDL_LOCAL_DATA/{ds.filename}` or `../shared/datasets/{ds.filename}`"))
    rows.append(("offline fallback", f"`{ds.fallback}`" if ds.fallback else "none needed (works offline)"
                 if ds.kind == "package" else "none"))
    lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows]
    lines += ["", "## Citation", "", ds.citation]
    if ds.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in ds.notes]
    return "\n".join(lines) + "\n"


def render_index() -> str:
    """``datasets/README.md``: one row per dataset."""
    lines = [
        HEADER, "", "# Datasets", "",
        "Every dataset the kit uses, declared once in `mitdl_util/data/registry.py`; one card per dataset below.",
        "No data files are committed: downloads go to `$MITDL_DATA_DIR` (default: the user cache directory),",
        "verified by sha256; offline, the loaders use real data that installed packages ship and say so in one "
        "line.",
        "`mitdl data list` shows what is cached, `mitdl data fetch NAME` downloads, `mitdl data verify` re-hashes.",
        "", "| name | kind | size | licence | offline fallback |", "|---|---|---|---|---|",
    ]
    for ds in REGISTRY.values():
        lines.append(f"| [{ds.name}]({ds.name}.md) | {ds.kind} | {ds.size} | {ds.licence.replace('|', '/')} | "
                     f"{ds.fallback or '—'} |")
    lines += ["", "## When something goes wrong", "", *FAULTS]
    return "\n".join(lines) + "\n"


FAULTS = (
    "Each problem below is one sentence saying what happened and what to do (no traceback), and leaves no "
    "temporary file (`*.part`, `*.extracting`) behind; the loaders with an offline fallback use it and say why.",
    "",
    "- **Disk full**: \"The disk holding DIR is full … free space there, or set MITDL_DATA_DIR …\" — before the "
    "download when the registry declares the size, else as soon as a write fails; the same for extraction.",
    "- **Read-only cache** (or a cache folder that cannot be created): \"DIR is read-only … set MITDL_DATA_DIR to a "
    "writable folder\". A verified file in a read-only cache is still used.",
    "- **Corrupt derived files**: an extracted archive carries `.mitdl-unpacked.json` (the archive's sha256, each "
    "file's size) and the resized LFW faces `faces-64.npy.json` (sha256, shape, dtype, photo list); a folder or "
    "file that does not match its record, or a photo that does not decode, is rebuilt from the verified archive.",
    "- **Two processes at once** (two notebooks starting together): each fetch and extraction holds a lock in "
    "`$MITDL_DATA_DIR/.locks/`; the second process says it is waiting, then uses the first one's verified file.",
    "- **A very slow server**: one fetch, every retry and mirror together, gives up after `MITDL_DOWNLOAD_DEADLINE` "
    f"seconds (default {DEADLINE_S:g}).",
    "- **An archive that unpacks to more than it should**: extraction refuses archives whose files add up to more "
    "than the card's \"unpacks to at most\" before writing anything.",
)


def expected_cards() -> dict[str, str]:
    """File name -> content of every file ``datasets/`` should hold."""
    cards = {f"{ds.name}.md": render_card(ds) for ds in REGISTRY.values()}
    cards["README.md"] = render_index()
    return cards


def default_cards_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "datasets"


def check_cards(folder: Path | None = None) -> list[str]:
    """Problems found in ``datasets/`` (missing, stale or extra cards); empty when it matches the registry."""
    folder = folder or default_cards_dir()
    expected = expected_cards()
    problems = []
    for name, text in expected.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name} differs from the registry")
    for path in sorted(folder.glob("*.md")):
        if path.name not in expected:
            problems.append(f"{path.name} has no registry entry")
    return problems


def write_cards(folder: Path | None = None) -> list[Path]:
    """Write every card (and the index) from the registry; return the paths written."""
    folder = folder or default_cards_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_cards().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
