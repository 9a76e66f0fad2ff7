CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL speed INPUT (occupancy DOUBLE) OUTPUT (speed DOUBLE)
  WITH ('task' = 'regression', 'algorithm' = 'linear_regression', 'drift.detector' = 'ddm');
