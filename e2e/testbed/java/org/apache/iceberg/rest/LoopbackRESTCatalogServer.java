/*
 * floe e2e test bed: runs the Apache Iceberg reference REST catalog server
 * (org.apache.iceberg.rest.RESTCatalogServer from iceberg-open-api) bound to
 * one host address only. The upstream main() binds every interface with
 * SO_REUSEPORT; this launcher builds the same servlet but listens on
 * REST_HOST (default 127.0.0.1) without port reuse, so a second instance on
 * the same port fails instead of silently sharing it.
 *
 * It lives in the upstream package to reach its package-private classes and
 * must be loaded by the same class loader as the iceberg-open-api jar (plain
 * -cp, compiled with javac; not the single-file source launcher).
 */
package org.apache.iceberg.rest;

import java.lang.reflect.Method;
import org.apache.iceberg.util.PropertyUtil;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.gzip.GzipHandler;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

public final class LoopbackRESTCatalogServer {
  private LoopbackRESTCatalogServer() {}

  public static void main(String[] args) throws Exception {
    String host = System.getenv().getOrDefault("REST_HOST", "127.0.0.1");

    // Same backend catalog set-up as RESTCatalogServer (CATALOG_* env vars).
    RESTCatalogServer upstream = new RESTCatalogServer();
    Method init = RESTCatalogServer.class.getDeclaredMethod("initializeBackendCatalog");
    init.setAccessible(true);
    RESTCatalogServer.CatalogContext ctx = (RESTCatalogServer.CatalogContext) init.invoke(upstream);

    RESTCatalogAdapter adapter = new RESTServerCatalogAdapter(ctx);
    RESTCatalogServlet servlet = new RESTCatalogServlet(adapter);
    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.addServlet(new ServletHolder(servlet), "/*");
    context.insertHandler(new GzipHandler());

    int port = PropertyUtil.propertyAsInt(ctx.configuration(), RESTCatalogServer.REST_PORT, 8181);
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(host);
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(context);
    server.setStopAtShutdown(true);
    server.start();
    System.out.println("floe-testbed: Iceberg REST catalog listening on http://" + host + ":" + port);
    server.join();
  }
}
