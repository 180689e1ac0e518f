"""HTML, chart and JUnit renderers of a run report: pure functions of samples, summary and run info."""
