package dev.floe.e2e.apicurio;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * The bean that the excluded apicurio-common-app-components-config-index
 * extension would have generated at build time: the list of properties that
 * can be changed at run time through the admin API. Empty here, so every
 * setting is static (the test bed changes none at run time).
 */
@ApplicationScoped
public class DynamicConfigPropertyListProducer {
  @Produces
  @ApplicationScoped
  DynamicConfigPropertyList dynamicConfigPropertyList() {
    return new DynamicConfigPropertyList(List.of());
  }
}
