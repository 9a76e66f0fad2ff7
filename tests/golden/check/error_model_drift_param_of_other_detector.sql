CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE MODEL congestion INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'algorithm' = 'logistic_regression',
        'drift.detector' = 'adwin', 'drift.warm_start' = '50');
