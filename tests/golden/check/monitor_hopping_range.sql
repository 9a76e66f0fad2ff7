CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE alerts WITH ('connector' = 'stdout');
CREATE MONITOR speed_drift ON traffic (speed)
  WITH ('method' = 'jensen_shannon', 'reference.start' = '2026-01-01 00:00:00', 'reference.end' = '2026-01-01 01:00:00',
        'window' = '10 minutes', 'slide' = '1 minute', 'device' = 'cpu', 'partition_by' = 'sensor_id');
INSERT INTO alerts SELECT * FROM speed_drift;
