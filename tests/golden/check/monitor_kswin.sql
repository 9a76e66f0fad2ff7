CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE TABLE alerts WITH ('connector' = 'stdout');
CREATE MONITOR speed_drift ON traffic (speed) WITH ('method' = 'kswin', 'alpha' = '0.001', 'seed' = '7', 'partition_by' = 'sensor_id');
INSERT INTO alerts SELECT key, row_index, statistic FROM speed_drift;
