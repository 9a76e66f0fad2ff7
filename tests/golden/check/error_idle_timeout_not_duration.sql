CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '1000', 'idle_timeout' = 'soon');
CREATE TABLE features WITH ('connector' = 'blackhole');
INSERT INTO features SELECT * FROM traffic;
