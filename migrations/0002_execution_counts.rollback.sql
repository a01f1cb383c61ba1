DROP TABLE execution_counts;
