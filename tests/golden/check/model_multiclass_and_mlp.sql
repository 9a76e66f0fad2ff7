-- A per-sensor softmax regression over three congestion levels, and a
-- global MLP regression of speed, trained and scored on the same stream.
CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE out WITH ('connector' = 'stdout');
CREATE TABLE speeds WITH ('connector' = 'stdout');
CREATE VIEW levelled AS
  SELECT sensor_id, ts, speed, CAST(volume AS DOUBLE) AS volume, occupancy,
         CASE WHEN speed < 30 THEN 'jammed' WHEN speed < 60 THEN 'slow' ELSE 'free' END AS level
  FROM traffic;
CREATE MODEL level
  INPUT (volume DOUBLE, occupancy DOUBLE)
  OUTPUT (level STRING)
  WITH ('task' = 'classification', 'classes' = 'free, slow, jammed', 'optimizer' = 'adam',
        'scaler' = 'standard', 'partition_by' = 'sensor_id', 'device' = 'cpu');
CREATE MODEL speed_mlp
  INPUT (volume DOUBLE, occupancy DOUBLE)
  OUTPUT (speed DOUBLE)
  WITH ('task' = 'regression', 'algorithm' = 'mlp', 'hidden_layers' = '16, 8', 'activation' = 'tanh',
        'optimizer' = 'adam', 'learning_rate' = '0.01', 'batch_size' = '4', 'scaler' = 'standard');
INSERT INTO level SELECT sensor_id, volume, occupancy, level FROM levelled;
INSERT INTO speed_mlp SELECT volume, occupancy, speed FROM levelled;
INSERT INTO out SELECT sensor_id, prediction AS level, probability
  FROM ML_PREDICT(TABLE levelled, MODEL level, DESCRIPTOR(volume, occupancy));
INSERT INTO speeds SELECT sensor_id, prediction AS speed
  FROM ML_PREDICT(TABLE levelled, MODEL speed_mlp, DESCRIPTOR(volume, occupancy));
