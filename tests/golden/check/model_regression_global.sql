CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE MODEL speed_model INPUT (volume DOUBLE, occupancy DOUBLE) OUTPUT (speed DOUBLE)
  WITH ('task' = 'regression');
INSERT INTO speed_model SELECT CAST(volume AS DOUBLE) AS volume, occupancy, speed FROM traffic;
INSERT INTO out SELECT sensor_id, speed, prediction FROM ML_PREDICT(traffic, speed_model, DESCRIPTOR(volume, occupancy));
