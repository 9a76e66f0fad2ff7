CREATE TABLE traffic WITH ('connector' = 'generator', 'events' = '100');
CREATE TABLE o WITH ('connector' = 'blackhole');
INSERT INTO o SELECT ts + INTERVAL '90' MINUTE TO SECOND AS later FROM traffic;
