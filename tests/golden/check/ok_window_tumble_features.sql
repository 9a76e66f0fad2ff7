CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features
SELECT window_start, window_end, sensor_id,
       count(*) AS readings, avg(speed) AS avg_speed, max(volume) AS max_volume,
       stddev_samp(speed) AS speed_sd, last_value(occupancy ORDER BY ts) AS occupancy,
       count(*) FILTER (WHERE congested) AS congested_readings
FROM TABLE(TUMBLE(TABLE traffic, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
WHERE speed > 0
GROUP BY window_start, window_end, sensor_id;
