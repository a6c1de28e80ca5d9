"""Regenerate the accuracy-eval item sets (``datasets/evals/<set>/cases.jsonl``) from their seeded
generators in ``conformance/harness/evals/sets/``. The output is byte-identical on every run and
machine (string-seeded ``random.Random``, sorted keys, ``\\n`` line ends).

    python tools/gen_eval_sets.py            # write every set
    python tools/gen_eval_sets.py arith      # write one
    python tools/gen_eval_sets.py --check    # exit 1 if a committed file differs from the generator
                                             # or an item breaks datasets/evals/eval-set.schema.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.harness.evals import sets  # noqa: E402
from conformance.harness.evals.sets.common import parse  # noqa: E402

SCHEMA = ROOT / "datasets" / "evals" / "eval-set.schema.json"


def validate(text: str) -> list[str]:
    """Schema errors of a set file's text (header against ``$defs/header``, items against
    ``$defs/item``), plus duplicate ids and a wrong count."""
    import jsonschema  # noqa: PLC0415

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    header, items = parse(text)
    errors = []
    for where, instance, ref in [("header", header, "header"), *((f"item {i + 1}", it, "item")
                                                                 for i, it in enumerate(items))]:
        sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": f"#/$defs/{ref}"}
        for e in jsonschema.Draft202012Validator(sub).iter_errors(instance):
            errors.append(f"{where} ({instance.get('id', header.get('name'))}): {e.message}")
    ids = [it.get("id") for it in items]
    if len(ids) != len(set(ids)):
        errors.append("duplicate item ids")
    if header.get("count") != len(items):
        errors.append(f"header count {header.get('count')} != {len(items)} items")
    return errors


def _rel(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"sets (default: all of {', '.join(sets.NAMES)})")
    ap.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = ap.parse_args(argv)
    names = args.names or list(sets.NAMES)
    failed = False
    for name in names:
        text = sets.render_set(name)
        errors = validate(text)
        target = sets.path(name)
        if errors:
            failed = True
            print(f"{name}: {len(errors)} schema error(s); first: {errors[0]}", file=sys.stderr)
        if args.check:
            current = target.read_bytes() if target.exists() else b""
            if current != text.encode("utf-8"):
                failed = True
                print(f"{name}: {_rel(target)} differs from the generator "
                      f"(run python tools/gen_eval_sets.py {name})", file=sys.stderr)
            else:
                print(f"{name}: ok ({text.count(chr(10)) - 1} items, {len(text.encode()) // 1024} KiB)")
        elif not errors:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
            print(f"{name}: wrote {_rel(target)} ({text.count(chr(10)) - 1} items, "
                  f"{len(text.encode()) // 1024} KiB)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
