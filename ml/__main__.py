"""`python -m ml train|score|publish`: each step on its own, as Airflow (or a person) runs it.

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

from ml.publish import publish
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
        else:
            rows = publish(conn, model_version=args.model_version, top_n=args.top_n)
            result = {"published_rows": rows}
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
    return parser


if __name__ == "__main__":
    sys.exit(main())
