"""Random-forest training scenarios of rising size: the classic "accuracy vs emissions" study.

    python forest.py --samples 10000 --trees 100

Trains on a generated classification task (no downloads), predicts a held-out set, and reports to
carbon-gate the accuracy (`report_metric`: the report's "Quality metrics" table and the CSV's
`metric_accuracy` column) and the predictions made, in thousands, as functional units, so the
report's SCI is CO2e per 1k predictions. CARBON_GATE_FAST=1 scales everything down 20× (tests, a quick look).
"""

import argparse
import os

from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import carbon_gate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--trees", type=int, default=100)
    args = ap.parse_args()
    scale = 20 if os.environ.get("CARBON_GATE_FAST") else 1
    samples, trees = max(args.samples // scale, 200), max(args.trees // scale, 5)
    X, y = make_classification(n_samples=samples, n_features=20, n_informative=10, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    model = RandomForestClassifier(n_estimators=trees, n_jobs=1, random_state=0).fit(X_train, y_train)
    accuracy = model.score(X_test, y_test)
    carbon_gate.report_units(len(X_test) / 1000, name="1k predictions")
    carbon_gate.report_metric("accuracy", accuracy)
    print(f"{samples} samples, {trees} trees: accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
