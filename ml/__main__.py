"""`python -m ml train|report|backtest|should-train|score|publish|rollback|restore`: each
step on its own, as Airflow (or a person) runs it.

The connection comes from warehouse.connections, the model folder from warehouse.paths
(`ENCORE_ARTIFACTS_DIR` or `.encore/artifacts`); each command prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ml.backtest import backtest
from ml.policy import should_train
from ml.publish import publish, rollback
from ml.report import regenerate
from ml.restore import restore
from ml.score import REASON_TOP_N, score
from ml.train import train
from observability.logs import configure_logging
from warehouse.connections import connect, ensure_warehouse
from warehouse.paths import artifacts_dir


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    ensure_warehouse()
    folder = Path(args.artifacts_dir) if args.artifacts_dir else artifacts_dir()
    with connect() as conn:
        if args.command == "train":
            run = train(
                conn,
                artifacts_dir=folder,
                validation_days=args.validation_days,
                list_model=args.list_model,
            )
            result = {
                "model_version": run.model_version,
                "train_rows": run.train_rows,
                "valid_rows": run.valid_rows,
                "artifact_path": str(run.artifact_path),
                **{k: v for k, v in run.metrics.items() if not isinstance(v, dict)},
            }
        elif args.command == "report":
            result = {"report": str(regenerate(conn, folder, args.model_version))}
        elif args.command == "backtest":
            outcome = backtest(
                conn,
                artifacts_dir=folder,
                model_version=args.model_version,
                cutoff=args.cutoff,
                k=args.k,
                record=not args.no_record,
            )
            result = {
                key: outcome[key]
                for key in (
                    "model_version",
                    "published_ranking",
                    "cutoff_range",
                    "users_with_lists",
                    "users_evaluated",
                    "candidate_coverage",
                    "published_vs_recent_plays",
                    "strongest_baseline",
                    "rankings",
                    "report_path",
                    "seconds",
                )
            }
        elif args.command == "should-train":
            decision = should_train(
                conn,
                max_age_days=args.max_age_days,
                drift_threshold=args.drift_threshold,
                force=args.force,
                artifacts_dir=folder,
            )
            result = {
                "train": decision.train,
                "reason": decision.reason,
                "decision_id": decision.decision_id,
                **decision.details,
            }
        elif args.command == "restore":
            restored = restore(conn, args.model_version, artifacts_dir=folder, keep=args.keep)
            result = {
                "model_version": restored.model_version,
                "how": restored.how,
                "publish_id": restored.publish_id,
                "rows": restored.rows,
                "rolled_back_runs": restored.retired,
            }
        elif args.command == "score":
            rows = score(
                conn, model_version=args.model_version, artifacts_dir=folder, top_n=args.top_n
            )
            result = {"scored_rows": rows}
        elif args.command == "publish":
            rows = publish(conn, model_version=args.model_version, top_n=args.top_n, keep=args.keep)
            result = {"published_rows": rows}
        else:
            current = rollback(conn, to=args.to)
            result = {
                "publish_id": current.publish_id,
                "model_version": current.model_version,
                "generated_at": current.generated_at,
                "rows": current.rows,
            }
    print(json.dumps(result, default=str))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__)
    parser.add_argument("--artifacts-dir", help="model folder root (default: .encore/artifacts)")
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train, evaluate and register a model")
    train_cmd.add_argument("--validation-days", type=int, default=30)
    train_cmd.add_argument(
        "--no-list-model",
        dest="list_model",
        action="store_false",
        help="skip the list model (the lists are then ranked by the best recency rule)",
    )
    report_cmd = commands.add_parser("report", help="rebuild a model run's report.md and plots")
    report_cmd.add_argument(
        "--model-version", "--version", dest="model_version", help="default: latest succeeded run"
    )
    backtest_cmd = commands.add_parser(
        "backtest",
        help="grade a model version's top-20 lists at each listener's own cut-off "
        "(their clock minus 30 days) against the next 30 days "
        "(docs/model.md)",
    )
    backtest_cmd.add_argument("--model-version", help="default: latest succeeded run")
    backtest_cmd.add_argument(
        "--cutoff", type=int, default=1, help="which past cut-off (k: clock minus 30 x k days)"
    )
    backtest_cmd.add_argument("--k", type=int, default=20)
    backtest_cmd.add_argument(
        "--no-record",
        action="store_true",
        help="write the result files only, not a row of ml.backtests",
    )
    score_cmd = commands.add_parser("score", help="score candidates into ml.scores")
    score_cmd.add_argument("--model-version", help="default: latest succeeded run")
    score_cmd.add_argument(
        "--top-n", type=int, default=REASON_TOP_N, help="rows per listener given a reason"
    )
    publish_cmd = commands.add_parser("publish", help="publish top-N into serving")
    publish_cmd.add_argument("--model-version", help="default: latest scored run")
    publish_cmd.add_argument("--top-n", type=int, default=20)
    publish_cmd.add_argument(
        "--keep",
        type=int,
        help="publishes to keep for rollback (default: ENCORE_SERVING_KEEP or 3)",
    )
    policy_cmd = commands.add_parser(
        "should-train",
        help="decide (and record) whether tonight's run retrains (docs/operations.md)",
    )
    policy_cmd.add_argument("--max-age-days", type=float, default=7)
    policy_cmd.add_argument("--drift-threshold", type=float, default=0.2)
    policy_cmd.add_argument("--force", action="store_true")
    restore_cmd = commands.add_parser(
        "restore",
        help="make an earlier model current again: roll back to its kept publish, "
        "else score with it and publish",
    )
    restore_cmd.add_argument("model_version")
    restore_cmd.add_argument("--keep", type=int, help="publishes to keep (as for publish)")
    rollback_cmd = commands.add_parser(
        "rollback", help="make an earlier kept publish current (see serving.publishes)"
    )
    rollback_cmd.add_argument(
        "--to", help="a publish_id or a model_version (default: the publish before the current one)"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
