CREATE TABLE traffic WITH ('connector' = 'generator', 'drift_at' = '100000');
CREATE MODEL congestion INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'algorithm' = 'logistic_regression', 'partition_by' = 'sensor_id',
        'drift.detector' = 'ddm', 'drift.warning_threshold' = '2.5', 'on_drift' = 'background');
INSERT INTO congestion SELECT sensor_id, speed, occupancy, congested FROM traffic;
CREATE TABLE alerts WITH ('connector' = 'stdout');
INSERT INTO alerts SELECT key, state, row_index, statistic FROM ML_ALERTS(MODEL congestion) WHERE state = 'drift';
