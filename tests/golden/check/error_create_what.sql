CREATE INDEX i ON traffic (sensor_id);
