-- Live traffic features from the built-in generator.
CREATE TABLE traffic WITH (
  'connector' = 'generator',
  'sensors' = '50',
  'events' = '10000',
  'disorder_ms' = '2000'
);

CREATE TABLE features WITH ('connector' = 'stdout', 'format' = 'table');

INSERT INTO features
SELECT sensor_id,
       ts,
       speed * 0.621371 AS speed_mph,
       CASE WHEN occupancy > 0.35 THEN 'jam'
            WHEN occupancy > 0.2 THEN 'busy'
            ELSE 'free' END AS level,
       CAST(volume AS DOUBLE) / 60.0 AS vehicles_per_s
FROM traffic
WHERE speed > 0;
