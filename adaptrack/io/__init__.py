"""Frame sources (image folders, video files, webcams) and result writers."""
