CREATE TABLE traffic WITH ('connector' = 'generator');
CREATE VIEW v AS SELECT * FROM traffic;
INSERT INTO v SELECT * FROM traffic;
