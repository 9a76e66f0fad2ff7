CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE alerts WITH ('connector' = 'stdout');
CREATE MONITOR speed_drift ON traffic (speed, occupancy)
  WITH ('method' = 'page_hinkley', 'threshold' = '100', 'partition_by' = 'sensor_id');
INSERT INTO alerts SELECT key, feature, row_index, statistic FROM speed_drift WHERE state = 'drift';
