CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE alerts WITH ('connector' = 'stdout');
CREATE MONITOR speed_drift ON traffic (speed, occupancy)
  WITH ('method' = 'psi', 'reference.rows' = '10000', 'window' = '1 minute', 'threshold' = '0.2', 'partition_by' = 'sensor_id');
INSERT INTO alerts SELECT key, feature, state, statistic, window_start, window_end FROM speed_drift;
