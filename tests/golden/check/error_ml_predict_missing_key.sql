CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL congestion INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN)
  WITH ('task' = 'classification', 'partition_by' = 'sensor_id');
CREATE VIEW v AS SELECT speed FROM traffic;
INSERT INTO out SELECT * FROM ML_PREDICT(TABLE v, MODEL congestion, DESCRIPTOR(speed));
