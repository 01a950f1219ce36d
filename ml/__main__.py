"""`python -m ml train|score|publish|rollback`: each step on its own, as Airflow (or a person)
runs it.

The connection comes from warehouse.connections, the model folder from warehouse.paths
(`ENCORE_ARTIFACTS_DIR` or `.encore/artifacts`); each command prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ml.publish import publish, rollback
from ml.score import score
from ml.train import train
from warehouse.connections import connect, ensure_warehouse
from warehouse.paths import artifacts_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    ensure_warehouse()
    folder = Path(args.artifacts_dir) if args.artifacts_dir else artifacts_dir()
    with connect() as conn:
        if args.command == "train":
            run = train(conn, artifacts_dir=folder, validation_days=args.validation_days)
            result = {
                "model_version": run.model_version,
                "train_rows": run.train_rows,
                "valid_rows": run.valid_rows,
                "artifact_path": str(run.artifact_path),
                **{k: v for k, v in run.metrics.items() if not isinstance(v, dict)},
            }
        elif args.command == "score":
            rows = score(conn, model_version=args.model_version, artifacts_dir=folder)
            result = {"scored_rows": rows}
        elif args.command == "publish":
            rows = publish(conn, model_version=args.model_version, top_n=args.top_n,
                           keep=args.keep)
            result = {"published_rows": rows}
        else:
            current = rollback(conn, to=args.to)
            result = {"publish_id": current.publish_id, "model_version": current.model_version,
                      "generated_at": current.generated_at, "rows": current.rows}
    print(json.dumps(result, default=str))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    parser.add_argument("--artifacts-dir", help="model folder root (default: .encore/artifacts)")
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train, evaluate and register a model")
    train_cmd.add_argument("--validation-days", type=int, default=30)
    score_cmd = commands.add_parser("score", help="score candidates into ml.scores")
    score_cmd.add_argument("--model-version", help="default: latest succeeded run")
    publish_cmd = commands.add_parser("publish", help="publish top-N into serving")
    publish_cmd.add_argument("--model-version", help="default: latest scored run")
    publish_cmd.add_argument("--top-n", type=int, default=20)
    publish_cmd.add_argument("--keep", type=int,
                             help="publishes to keep for rollback (default: "
                                  "ENCORE_SERVING_KEEP or 3)")
    rollback_cmd = commands.add_parser(
        "rollback", help="make an earlier kept publish current (see serving.publishes)")
    rollback_cmd.add_argument("--to", help="a publish_id or a model_version (default: the "
                                           "publish before the current one)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
