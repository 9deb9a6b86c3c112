"""`mitdl data list|fetch|verify|cards`: thin wrappers over the typed functions in this package."""

from __future__ import annotations

import argparse

from .cache import data_dir, find_local
from .registry import REGISTRY, Dataset


def dataset_rows() -> list[tuple[str, str, str, str]]:
    """(name, size, availability, source) for every registered dataset."""
    from .download import cached_path, expected_sha256

    rows = []
    for ds in REGISTRY.values():
        rows.append((ds.name, ds.size, _availability(ds, cached_path, expected_sha256), ds.source))
    return rows


def _availability(ds: Dataset, cached_path, expected_sha256) -> str:
    if ds.kind == "package":
        return "shipped"
    if ds.kind == "local":
        return "present" if find_local(ds.filename) else "absent"
    path = cached_path(ds)
    if not path.is_file():
        return "not cached" if ds.sha256 else "not cached (hash not pinned)"
    return "cached" if expected_sha256(ds, path) else "cached (unverified)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="name, size, whether it is cached, and source of every dataset")
    fetch = sub.add_parser("fetch", help="download a dataset into the cache and verify its sha256")
    fetch.add_argument("name", choices=sorted(n for n, d in REGISTRY.items() if d.kind == "download"))
    fetch.add_argument("--force", action="store_true", help="download again even if a verified copy is cached")
    fetch.add_argument("--allow-unpinned", action="store_true",
                       help="accept a dataset whose sha256 is not pinned yet (prints the hash to pin)")
    verify = sub.add_parser("verify", help="re-hash the cache; report and remove bad files")
    verify.add_argument("names", nargs="*", help="datasets to check (default: every download)")
    cards = sub.add_parser("cards", help="check (default) or rewrite datasets/ cards from the registry")
    cards.add_argument("--write", action="store_true", help="rewrite the cards instead of checking them")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "list":
        rows = [("NAME", "SIZE", "AVAILABLE", "SOURCE"), *dataset_rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
        print(f"cache: {data_dir()}")
        return 0
    if args.data_command == "fetch":
        from .download import fetch

        path = fetch(args.name, force=args.force, allow_unpinned=args.allow_unpinned)
        print(f"{args.name}: {path}")
        return 0
    if args.data_command == "verify":
        from .download import verify_cache

        results = verify_cache(args.names or None)
        for name, status in results:
            print(f"{name}: {status}")
        return 1 if any(status.startswith(("removed", "corrupt")) for _, status in results) else 0
    from .cards import check_cards, default_cards_dir, write_cards

    if args.write:
        for path in write_cards():
            print(f"wrote {path}")
        return 0
    problems = check_cards()
    for problem in problems:
        print(f"{default_cards_dir()}: {problem}")
    if problems:
        print("run `mitdl data cards --write` to regenerate them from the registry")
    return 1 if problems else 0
