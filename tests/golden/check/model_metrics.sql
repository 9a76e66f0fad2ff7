CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE, occupancy DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'partition_by' = 'sensor_id');
INSERT INTO out SELECT key, rows, recent_accuracy FROM ML_METRICS(MODEL m) WHERE recent_accuracy < 0.8;
INSERT INTO m SELECT sensor_id, speed, occupancy, congested FROM traffic;
