CREATE TABLE traffic (
  sensor_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, speed DOUBLE, volume BIGINT,
  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
) WITH ('connector' = 'kafka', 'topic' = 'traffic;traffic-eu',
        'properties.bootstrap.servers' = 'localhost:9092', 'properties.security.protocol' = 'PLAINTEXT',
        'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
CREATE TABLE features WITH ('connector' = 'kafka', 'topic' = 'features',
        'properties.bootstrap.servers' = 'localhost:9092', 'key.fields' = 'sensor_id');
INSERT INTO features
SELECT window_start, window_end, sensor_id, avg(speed) AS avg_speed
FROM TUMBLE(traffic, ts, INTERVAL '1' MINUTE)
GROUP BY window_start, window_end, sensor_id;
