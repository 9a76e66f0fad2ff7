CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL m INPUT (speed DOUBLE) OUTPUT (congested BOOLEAN) WITH ('task' = 'classification', 'partition_by' = 'sensor_id');
INSERT INTO m SELECT sensor_id, speed, congested FROM traffic;
CREATE VIEW v AS SELECT CAST(sensor_id AS VARCHAR) AS sensor_id, speed FROM traffic;
INSERT INTO out SELECT * FROM ML_PREDICT(TABLE v, MODEL m, DESCRIPTOR(speed));
