"""TradeMate load & SLA suite: Locust user classes, raw-sample collection, exact SLA verdicts and reports."""

__version__ = "0.1.0"
