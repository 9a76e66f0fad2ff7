CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000');
CREATE TABLE features WITH ('connector' = 'blackhole', 'idle_timeout' = '5 s');
INSERT INTO features SELECT * FROM traffic;
