CREATE TABLE traffic (sensor_id BIGINT, speed_kmh DOUBLE) WITH ('connector' = 'generator');
