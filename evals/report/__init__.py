"""From records to numbers and tables: aggregation, leaderboards, plots, paper tables, regression checks."""
